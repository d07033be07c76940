process.stdout.write('kms-envelope: not yet\n');
