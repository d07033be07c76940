/** Services the extension builds on (no vscode): key cache, tree model, seal/unseal use-cases. */
export * from './key-service';
export * from './tree-model';
export * from './envelope-service';
export * from './values-service';
