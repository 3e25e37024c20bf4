// Times building a cluster's whole PKI with @hacp/certs against the `openssl` command lines a shell
// script would run to make the same files, in the same process and the same run. A benchmark, not a
// test: `node bench/pki/run.mjs` (full run, records results) or `--quick` (smoke run, records nothing).
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClusterPki, issueReplicaCerts, withReplica, writePki } from '@hacp/certs';
import { benchOptions, removeFolder, tempFolder } from '../lib/harness.mjs';
import { childrenCpuMs, describeHost, describeTmpFolder, fileSha256, firstLine } from '../lib/machine.mjs';
import {
  loadText,
  markdownTable,
  median,
  msText as ms,
  plural,
  readResults,
  recordedOn,
  round1,
  saveResults,
} from '../lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const options = benchOptions(import.meta.url);
const { quick } = options;
const ALGORITHMS = [
  { keyAlgorithm: 'ecdsa-p256', rounds: quick ? 1 : 5 },
  { keyAlgorithm: 'rsa-2048', rounds: quick ? 1 : 3 },
];
const REPLICA_COUNTS = quick ? [1, 3] : [1, 3, 7];
const CLUSTER = { clusterName: 'bench', endpointAddress: '34.1.2.3' };
// What hacp derives from its defaults (serviceCidr 10.0.0.0/16, dnsDomain cluster.local); the script hard-codes them.
const FIRST_SERVICE_IP = '10.0.0.1';
const DNS_DOMAIN = 'cluster.local';
const CA_DAYS = 3650;
const LEAF_DAYS = 365;
const README_START = '<!-- pki-results:start -->';
const README_END = '<!-- pki-results:end -->';

// A script runs `umask 022` so that certificates are 0644; openssl writes keys 0600 itself.
process.umask(0o022);

function replicaIdentities(count) {
  return Array.from({ length: count }, (_, index) => ({
    replicaName: `master-${index + 1}`,
    hostname: `kubernetes-master-${index + 1}`,
    internalIp: `10.128.0.${index + 2}`,
    externalIp: `34.1.2.${index + 11}`,
  }));
}

// --- hacp ---------------------------------------------------------------------------------------

/** The library as createClusterPki's example uses it: the cluster PKI, each replica in turn, one write. */
async function buildWithHacp(dir, keyAlgorithm, identities) {
  let pki = await createClusterPki({ ...CLUSTER, keyAlgorithm });
  for (const identity of identities) pki = withReplica(pki, await issueReplicaCerts(pki, identity));
  const issued = performance.now();
  await writePki(dir, pki);
  return { writeMs: performance.now() - issued };
}

// --- openssl ------------------------------------------------------------------------------------

/**
 * The same PKI as a list of certificates, written out by hand as a script author would: kubeadm's
 * file names, and the subjects, issuers, usages and SANs that pki.ts gives each certificate.
 */
function opensslPlan(identities) {
  const ca = (path, commonName) => ({
    path,
    subject: [['CN', commonName]],
    issuer: undefined,
    usage: 'ca',
    names: [],
  });
  const leaf = (path, issuer, commonName, usage, names = [], organization = undefined) => ({
    path,
    subject: [...(organization ? [['O', organization]] : []), ['CN', commonName]],
    issuer,
    usage,
    names,
  });
  const certificates = [
    ca('pki/ca', 'kubernetes'),
    ca('pki/etcd/ca', 'etcd-ca'),
    ca('pki/front-proxy-ca', 'front-proxy-ca'),
    leaf('pki/admin', 'pki/ca', 'kubernetes-admin', 'client', [], 'system:masters'),
    leaf('pki/front-proxy-client', 'pki/front-proxy-ca', 'front-proxy-client', 'client'),
    leaf('pki/etcd/healthcheck-client', 'pki/etcd/ca', 'hacp-etcd-client', 'client'),
    // The control plane's own client leaves (certs' cluster-leaves.ts), kubeadm's names and groups.
    leaf(
      'pki/apiserver-kubelet-client',
      'pki/ca',
      'kube-apiserver-kubelet-client',
      'client',
      [],
      'system:masters',
    ),
    leaf('pki/controller-manager', 'pki/ca', 'system:kube-controller-manager', 'client'),
    leaf('pki/scheduler', 'pki/ca', 'system:kube-scheduler', 'client'),
    leaf('pki/addon-manager', 'pki/ca', 'system:addon-manager', 'client', [], 'system:masters'),
  ];
  const dirs = ['', 'pki', 'pki/etcd', 'replicas'];
  for (const { replicaName, hostname, internalIp, externalIp } of identities) {
    const base = `replicas/${replicaName}/pki`;
    dirs.push(`replicas/${replicaName}`, base, `${base}/etcd`);
    const etcdNames = [`DNS:${hostname}`, 'DNS:localhost', `IP:${internalIp}`, 'IP:127.0.0.1', 'IP:::1'];
    const apiserverNames = [
      `DNS:${hostname}`,
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      `DNS:kubernetes.default.svc.${DNS_DOMAIN}`,
      'DNS:localhost',
      `IP:${CLUSTER.endpointAddress}`,
      `IP:${internalIp}`,
      `IP:${externalIp}`,
      `IP:${FIRST_SERVICE_IP}`,
      'IP:127.0.0.1',
    ];
    certificates.push(
      leaf(`${base}/etcd/peer`, 'pki/etcd/ca', hostname, 'server-and-client', etcdNames),
      // Clients may reach etcd through the cluster endpoint, so its serving cert names that address too.
      leaf(`${base}/etcd/server`, 'pki/etcd/ca', hostname, 'server-and-client', [
        ...etcdNames,
        `IP:${CLUSTER.endpointAddress}`,
      ]),
      leaf(`${base}/apiserver`, 'pki/ca', 'kube-apiserver', 'server', apiserverNames),
      leaf(`${base}/apiserver-etcd-client`, 'pki/etcd/ca', 'kube-apiserver-etcd-client', 'client'),
    );
  }
  return { dirs, certificates };
}

/** The `openssl req` config of one certificate: its subject and its v3 extensions. */
function opensslConfig(certificate, keyAlgorithm) {
  const extensions =
    certificate.usage === 'ca'
      ? [
          'basicConstraints = critical,CA:TRUE',
          'keyUsage = critical,digitalSignature,keyCertSign,cRLSign',
          'subjectKeyIdentifier = hash',
          'authorityKeyIdentifier = none',
        ]
      : [
          'basicConstraints = critical,CA:FALSE',
          `keyUsage = critical,digitalSignature${keyAlgorithm === 'ecdsa-p256' ? '' : ',keyEncipherment'}`,
          `extendedKeyUsage = ${{ server: 'serverAuth', client: 'clientAuth', 'server-and-client': 'serverAuth,clientAuth' }[certificate.usage]}`,
          'subjectKeyIdentifier = hash',
          'authorityKeyIdentifier = keyid:always',
          ...(certificate.names.length > 0 ? [`subjectAltName = ${certificate.names.join(',')}`] : []),
        ];
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    'x509_extensions = ext',
    '[dn]',
    ...certificate.subject.map(([field, value]) => `${field} = ${value}`),
    '[ext]',
    ...extensions,
    '',
  ].join('\n');
}

function newKeyArguments(keyAlgorithm) {
  return keyAlgorithm === 'ecdsa-p256'
    ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
    : ['-newkey', 'rsa:2048'];
}

function genpkeyArguments(keyAlgorithm) {
  return keyAlgorithm === 'ecdsa-p256'
    ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
    : ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'];
}

/**
 * The script: one `mkdir`, then one `openssl req -x509` per certificate (key, subject, extensions and
 * signature in one process, `-CA`/`-CAkey` for leaves), `genpkey` and `pkey -pubout` for the
 * service-account keys, each config written as a script's heredoc would. Returns the processes run.
 */
function buildWithOpenssl(dir, keyAlgorithm, identities, scratch) {
  const run = (command, args) => execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const { dirs, certificates } = opensslPlan(identities);
  run('mkdir', ['-m', '700', scratch, ...dirs.map((path) => join(dir, path))]);
  let processes = 1;
  const sign = (certificate, index) => {
    const config = join(scratch, `${index}.cnf`);
    writeFileSync(config, opensslConfig(certificate, keyAlgorithm));
    const issuer = certificate.issuer
      ? ['-CA', join(dir, `${certificate.issuer}.crt`), '-CAkey', join(dir, `${certificate.issuer}.key`)]
      : [];
    const days = String(certificate.usage === 'ca' ? CA_DAYS : LEAF_DAYS);
    run('openssl', [
      'req',
      '-x509',
      '-config',
      config,
      ...newKeyArguments(keyAlgorithm),
      '-noenc',
      '-keyout',
      join(dir, `${certificate.path}.key`),
      '-out',
      join(dir, `${certificate.path}.crt`),
      '-days',
      days,
      '-sha256',
      ...issuer,
    ]);
    processes++;
  };
  const [cas, leaves] = [certificates.slice(0, 3), certificates.slice(3)];
  for (const [index, certificate] of cas.entries()) sign(certificate, index);
  run('openssl', ['genpkey', ...genpkeyArguments(keyAlgorithm), '-out', join(dir, 'pki/sa.key')]);
  run('openssl', ['pkey', '-in', join(dir, 'pki/sa.key'), '-pubout', '-out', join(dir, 'pki/sa.pub')]);
  processes += 2;
  for (const [index, certificate] of leaves.entries()) sign(certificate, cas.length + index);
  // hacp also writes its settings; a script would keep the same record.
  const record = {
    settings: { ...CLUSTER, keyAlgorithm, caValidityDays: CA_DAYS, leafValidityDays: LEAF_DAYS },
    identities,
  };
  writeFileSync(join(dir, 'pki.json'), `${JSON.stringify(record, null, 2)}\n`);
  return processes;
}

// --- equal work -----------------------------------------------------------------------------------

function tree(dir) {
  const entries = [];
  const walk = (path) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      const mode = (statSync(full).mode & 0o777).toString(8);
      entries.push({ path: relative(dir, full), kind: entry.isDirectory() ? 'dir' : 'file', mode });
      if (entry.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return entries.sort((a, b) => a.path.localeCompare(b.path));
}

const HEX_LINE = /^\s*(keyid:)?([0-9a-f]{2}:)+[0-9a-f]{0,2}\s*$/i;

/** What a certificate is, without what differs between any two issuances (serial, dates, keys, key ids). */
function describeCertificate(file) {
  const text = execFileSync(
    'openssl',
    ['x509', '-in', file, '-noout', '-text', '-certopt', 'no_serial,no_validity,no_sigdump'],
    {
      encoding: 'utf8',
    },
  );
  return text
    .split('\n')
    .filter((line) => !HEX_LINE.test(line))
    .join('\n');
}

function describeKey(file) {
  const key = createPrivateKey(readFileSync(file));
  const pem = readFileSync(file, 'utf8').split('\n')[0];
  const details = Object.entries(key.asymmetricKeyDetails ?? {}).map(([name, value]) => `${name}=${value}`);
  return {
    kind: [pem, key.asymmetricKeyType, ...details].join(' '),
    spki: createPublicKey(key).export({ type: 'spki', format: 'der' }),
  };
}

function verifyChains(dir, certificates) {
  const purposes = {
    ca: [undefined],
    server: ['sslserver'],
    client: ['sslclient'],
    'server-and-client': ['sslserver', 'sslclient'],
  };
  const groups = new Map();
  for (const certificate of certificates) {
    for (const purpose of purposes[certificate.usage]) {
      const issuer = certificate.issuer ?? certificate.path;
      const key = `${issuer}|${purpose ?? ''}`;
      if (!groups.has(key)) groups.set(key, { issuer, purpose, files: [] });
      groups.get(key).files.push(join(dir, `${certificate.path}.crt`));
    }
  }
  for (const { issuer, purpose, files } of groups.values()) {
    const args = [
      'verify',
      '-x509_strict',
      '-CAfile',
      join(dir, `${issuer}.crt`),
      ...(purpose ? ['-purpose', purpose] : []),
    ];
    const output = execFileSync('openssl', [...args, ...files], { encoding: 'utf8' });
    const failed = output.split('\n').filter((line) => line !== '' && !line.endsWith(': OK'));
    if (failed.length > 0) throw new Error(`openssl verify failed in ${dir}: ${failed.join('; ')}`);
  }
}

/**
 * Checks, untimed, that both sides did the same work: the same files with the same modes, the same
 * certificates (subject, issuer, algorithms, every extension and SAN), keys of the same kind that
 * match their certificates, and chains that `openssl verify -x509_strict` accepts for each purpose.
 */
function checkEqualWork(hacpDir, opensslDir, identities) {
  const listing = (dir) => tree(dir).map(({ path, kind, mode }) => `${kind} ${mode} ${path}`);
  const [hacpFiles, opensslFiles] = [listing(hacpDir), listing(opensslDir)];
  const missing = hacpFiles.filter((line) => !opensslFiles.includes(line));
  const extra = opensslFiles.filter((line) => !hacpFiles.includes(line));
  if (missing.length + extra.length > 0) {
    throw new Error(
      `the outputs differ: only hacp made ${missing.join(', ') || 'nothing'}; only openssl made ${extra.join(', ') || 'nothing'}`,
    );
  }
  const { certificates } = opensslPlan(identities);
  for (const { path } of certificates) {
    const [hacpCert, opensslCert] = [hacpDir, opensslDir].map((dir) =>
      describeCertificate(join(dir, `${path}.crt`)),
    );
    if (hacpCert !== opensslCert) {
      const only = (a, b) => a.split('\n').filter((line) => !b.split('\n').includes(line));
      const lines = [
        ...only(hacpCert, opensslCert).map((line) => `hacp:    ${line}`),
        ...only(opensslCert, hacpCert).map((line) => `openssl: ${line}`),
      ];
      throw new Error(`${path}.crt differs between the two outputs:\n${lines.join('\n')}`);
    }
    for (const dir of [hacpDir, opensslDir]) {
      const { spki } = describeKey(join(dir, `${path}.key`));
      const certKey = new X509Certificate(readFileSync(join(dir, `${path}.crt`))).publicKey.export({
        type: 'spki',
        format: 'der',
      });
      if (!spki.equals(certKey)) throw new Error(`${join(dir, path)}.key does not belong to its certificate`);
    }
  }
  for (const path of ['pki/sa', ...certificates.map((certificate) => certificate.path)]) {
    const [hacpKey, opensslKey] = [hacpDir, opensslDir].map(
      (dir) => describeKey(join(dir, `${path}.key`)).kind,
    );
    if (hacpKey !== opensslKey)
      throw new Error(`${path}.key differs: hacp ${hacpKey}, openssl ${opensslKey}`);
  }
  for (const dir of [hacpDir, opensslDir]) {
    const publicKey = createPublicKey(readFileSync(join(dir, 'pki/sa.pub'))).export({
      type: 'spki',
      format: 'der',
    });
    if (!publicKey.equals(describeKey(join(dir, 'pki/sa.key')).spki))
      throw new Error(`${dir}/pki/sa.pub does not match sa.key`);
    verifyChains(dir, certificates);
  }
  return {
    certificates: certificates.length,
    files: hacpFiles.filter((line) => line.startsWith('file ')).length,
  };
}

// --- measuring ------------------------------------------------------------------------------------

function freshDir() {
  const root = tempFolder('pki');
  return { root, out: join(root, 'pki'), scratch: join(root, 'conf') };
}

async function hacpRound(keyAlgorithm, identities, keep = false) {
  const { root, out } = freshDir();
  const rssBefore = process.memoryUsage().rss;
  const cpu = process.cpuUsage();
  const started = performance.now();
  let writeMs;
  try {
    ({ writeMs } = await buildWithHacp(out, keyAlgorithm, identities));
  } catch (error) {
    removeFolder(root);
    throw error;
  }
  const ms = performance.now() - started;
  const { user, system } = process.cpuUsage(cpu);
  const rssAfter = process.memoryUsage().rss;
  if (!keep) removeFolder(root);
  return { ms, writeMs, cpuMs: (user + system) / 1000, rssAfter, rssDelta: rssAfter - rssBefore, root, out };
}

function opensslRound(keyAlgorithm, identities, keep = false) {
  const { root, out, scratch } = freshDir();
  const cpu = childrenCpuMs();
  const started = performance.now();
  let processes;
  try {
    processes = buildWithOpenssl(out, keyAlgorithm, identities, scratch);
  } catch (error) {
    removeFolder(root);
    throw error;
  }
  const ms = performance.now() - started;
  const cpuAfter = childrenCpuMs();
  if (!keep) removeFolder(root);
  return { ms, cpuMs: cpu === undefined ? undefined : cpuAfter - cpu, processes, root, out };
}

const MB = 1024 * 1024;

async function measureConfiguration(keyAlgorithm, replicas, rounds) {
  const identities = replicaIdentities(replicas);
  const label = `${keyAlgorithm} × ${replicas} replica${replicas === 1 ? '' : 's'}`;
  process.stderr.write(`${label}: warm-up`);
  const warmHacp = await hacpRound(keyAlgorithm, identities, true);
  const warmOpenssl = opensslRound(keyAlgorithm, identities, true);
  let made;
  try {
    made = checkEqualWork(warmHacp.out, warmOpenssl.out, identities);
  } finally {
    removeFolder(warmHacp.root);
    removeFolder(warmOpenssl.root);
  }
  process.stderr.write(', same files and chains verified');
  const hacp = [];
  const openssl = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so neither always follows the other's garbage or cache state.
    if (round % 2 === 0) {
      hacp.push(await hacpRound(keyAlgorithm, identities));
      openssl.push(opensslRound(keyAlgorithm, identities));
    } else {
      openssl.push(opensslRound(keyAlgorithm, identities));
      hacp.push(await hacpRound(keyAlgorithm, identities));
    }
    process.stderr.write(`, round ${round + 1}/${rounds}`);
  }
  process.stderr.write('\n');
  const hacpMedian = median(hacp.map((sample) => sample.ms));
  const opensslMedian = median(openssl.map((sample) => sample.ms));
  const opensslCpu = openssl.map((sample) => sample.cpuMs);
  return {
    keyAlgorithm,
    replicas,
    rounds,
    certificates: made.certificates,
    files: made.files,
    verified: true,
    hacp: {
      medianMs: round1(hacpMedian),
      minMs: round1(Math.min(...hacp.map((sample) => sample.ms))),
      writePkiMedianMs: round1(median(hacp.map((sample) => sample.writeMs))),
      cpuMedianMs: round1(median(hacp.map((sample) => sample.cpuMs))),
      rssAfterRoundMaxMb: round1(Math.max(...hacp.map((sample) => sample.rssAfter)) / MB),
      rssGrowthInRoundMaxMb: round1(Math.max(...hacp.map((sample) => sample.rssDelta)) / MB),
    },
    openssl: {
      medianMs: round1(opensslMedian),
      minMs: round1(Math.min(...openssl.map((sample) => sample.ms))),
      childCpuMedianMs: opensslCpu.includes(undefined) ? undefined : round1(median(opensslCpu)),
      processes: openssl[0].processes,
    },
    opensslOverHacp: Math.round((opensslMedian / hacpMedian) * 100) / 100,
    // Counts this benchmark's own processes too; above ~2 on two cores, other work took a share.
    loadAverageOneMinuteAfter: round1(loadavg()[0]),
  };
}

/** Node's start plus `import '@hacp/certs'`, which a one-shot CLI pays once and the in-process timing does not. */
function nodeStartup() {
  const time = (args) =>
    median(
      Array.from({ length: 5 }, () => {
        const started = performance.now();
        execFileSync(process.execPath, args, { cwd: here, stdio: 'ignore' });
        return performance.now() - started;
      }),
    );
  const bare = time(['-e', '']);
  const withImport = time(['--input-type=module', '-e', "import '@hacp/certs';"]);
  return { nodeStartMs: round1(bare), importHacpCertsMs: round1(withImport - bare) };
}

// --- reporting ------------------------------------------------------------------------------------

function machine() {
  return {
    ...describeHost(),
    nodeOpenssl: process.versions.openssl,
    openssl: firstLine('openssl', ['version']),
    ...describeTmpFolder(),
    hacpCertsDistSha256: fileSha256(join(here, '..', 'node_modules', '@hacp', 'certs', 'dist', 'index.js')),
  };
}

function table(rows) {
  const signed = (value) => `${value >= 0 ? '+' : ''}${value.toFixed(0)}`;
  const columns = [
    { title: 'key' },
    { title: 'replicas', right: true },
    { title: 'certs / files', right: true },
    { title: 'hacp ms: median (min)', right: true },
    { title: 'of which `writePki`', right: true },
    { title: 'openssl ms: median (min)', right: true },
    { title: 'openssl ÷ hacp', right: true },
    { title: 'CPU ms: hacp / openssl', right: true },
    { title: 'hacp RSS MB (growth)', right: true },
  ];
  return markdownTable(
    columns,
    rows.map((row) => [
      row.keyAlgorithm,
      String(row.replicas),
      `${row.certificates} / ${row.files}`,
      `${ms(row.hacp.medianMs)} (${ms(row.hacp.minMs)})`,
      ms(row.hacp.writePkiMedianMs),
      `${ms(row.openssl.medianMs)} (${ms(row.openssl.minMs)})`,
      `${row.opensslOverHacp.toFixed(2)}×`,
      `${ms(row.hacp.cpuMedianMs)} / ${ms(row.openssl.childCpuMedianMs)}`,
      `${row.hacp.rssAfterRoundMaxMb.toFixed(0)} (${signed(row.hacp.rssGrowthInRoundMaxMb)})`,
    ]),
  );
}

function summary(results) {
  const { machine: host, startup, date } = results;
  const rounds = ALGORITHMS.map(
    ({ keyAlgorithm, rounds }) => `${plural(rounds, 'round')} of each for ${keyAlgorithm}`,
  ).join(', ');
  const load = (average) => loadText([average.oneMinute, average.fiveMinutes, average.fifteenMinutes]);
  return [
    table(results.rows),
    '',
    `${recordedOn(date, host)} (its crypto: OpenSSL ${host.nodeOpenssl}), ${host.openssl}; temp dirs on ${host.tmpFilesystem}; load average ${load(results.loadAverage.start)} at the start, ${load(results.loadAverage.end)} at the end. ${rounds}, after one warm-up each. A one-shot \`node\` process would add ${startup.nodeStartMs} ms to start and ${startup.importHacpCertsMs} ms to import \`@hacp/certs\` (not in the hacp column).`,
  ].join('\n');
}

const loadAverage = ([oneMinute, fiveMinutes, fifteenMinutes]) => ({
  oneMinute: round1(oneMinute),
  fiveMinutes: round1(fiveMinutes),
  fifteenMinutes: round1(fifteenMinutes),
});

// --- the run --------------------------------------------------------------------------------------

/** Every key algorithm and replica count, then the process's start-up and peak memory. */
async function measure() {
  const loadAtStart = loadavg();
  const rows = [];
  for (const { keyAlgorithm, rounds } of ALGORITHMS) {
    for (const replicas of REPLICA_COUNTS)
      rows.push(await measureConfiguration(keyAlgorithm, replicas, rounds));
  }
  return {
    date: new Date().toISOString(),
    machine: machine(),
    startup: nodeStartup(),
    // Interleaved rounds share other work on the machine; absolute times do not. Includes this run's own load.
    loadAverage: { start: loadAverage(loadAtStart), end: loadAverage(loadavg()) },
    processPeakRssMb: round1((process.resourceUsage().maxRSS * 1024) / MB),
    rows,
  };
}

const results = options['from-results'] ? readResults(here) : await measure();
const text = summary(results);
console.log(text);
saveResults({
  folder: here,
  options,
  results,
  sections: [{ start: README_START, end: README_END, text }],
  format: (value) => JSON.stringify(value, null, 2),
  tables: 'the table',
});
