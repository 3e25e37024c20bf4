// A stand-in for the add-on manager that starts and never applies anything (as one whose add-on
// folder or API server it cannot use), run as a replica's kube-addon-manager by
// kubernetes-1.32.integ.test.ts through the `addonManagerProgram` setting. It takes the real one's
// flags, says what it is, and stays up until SIGTERM, so the local provider counts it as started.
process.stdout.write(`idle add-on manager stand-in started with ${process.argv.slice(2).join(' ')}\n`);
setInterval(() => undefined, 60_000);
process.on('SIGTERM', () => process.exit(0));
