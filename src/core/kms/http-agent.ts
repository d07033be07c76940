/**
 * Keep-alive HTTP agents for the clients of one provider instance. Loopback endpoints (the
 * emulator) get these agents so http_proxy never applies to 127.0.0.1; public endpoints keep the
 * SDK's own agent, which honours the proxy settings.
 */
import * as http from 'node:http';
import * as https from 'node:https';

export class AgentPool {
  private httpAgent?: http.Agent;
  private httpsAgent?: https.Agent;
  get(protocol: 'http' | 'https'): http.Agent {
    if (protocol === 'http') return (this.httpAgent ??= new http.Agent({ keepAlive: true, maxSockets: 64 }));
    return (this.httpsAgent ??= new https.Agent({ keepAlive: true, maxSockets: 64 }));
  }
  destroy(): void {
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
    this.httpAgent = this.httpsAgent = undefined;
  }
}
