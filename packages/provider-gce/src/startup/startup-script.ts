import { CONTAINERD_CERTS_DIR, CONTAINERD_CONFIG_PATH, REGISTRY_HOSTS_MARKER } from './containerd.js';
import {
  BIN_DIR,
  DATA_DISK_DEVICE_NAME,
  DISK_OWNER_FILE,
  HEALTH_URL,
  MANIFESTS_DIR,
  METADATA_KEYS,
  METADATA_URL,
  RELEASE_URL,
  REPLICA_ROOT_DIR,
  STARTUP_LOG,
} from './layout.js';

/** The data disk as the guest sees it (udev's by-id link for GCE disks). */
export const DATA_DISK_PATH = `/dev/disk/by-id/google-${DATA_DISK_DEVICE_NAME}`;

/**
 * The startup script of every replica (instance metadata `startup-script`, which GCE's guest agent
 * runs as root on every boot, COS included). It reads everything from the instance's metadata and,
 * idempotently:
 * 0. checks that the image has containerd (else it stops, naming images that have it), writes
 *    containerd's `config.toml` (systemd cgroup driver, the version's pause image) and the registry
 *    mirrors' `hosts.toml` files, and restarts containerd only when its configuration changed;
 * 1. formats the data disk only when it holds no filesystem and mounts it at REPLICA_ROOT_DIR (0700);
 *    a disk another instance wrote (an earlier replica of the same name, deleted outside hacp, left
 *    it behind) has what that instance left moved aside into `stale-<time>/`, never deleted: this
 *    replica's etcd member is a new one and must start from an empty data folder; unless the
 *    `hacp-data-disk` metadata says `handed-over` (hacp deleted that instance keeping the disk, to
 *    migrate its etcd member onto this one, which starts on its data);
 * 2. writes every `hacp-files` line with its mode, atomically, never printing contents;
 * 3. installs the kubelet of `hacp-kubernetes-version` from dl.k8s.io into /home/kubernetes/bin,
 *    verified against its `.sha256`, unless that version is installed already;
 * 4. writes a standalone kubelet's configuration and systemd unit;
 * 5. writes every `hacp-manifests` static pod and removes `hacp-*.json` manifests no longer listed;
 * then enables the kubelet, restarting it when its binary, configuration or unit changed, and
 * 6. waits in the foreground until the health endpoint (HEALTH_URL) answers 200, saying so about every
 *    60 s, then prints STARTUP_LOG.healthAnswers; after HACP_HEALTH_WAIT_SECONDS (default 1800) of
 *    silence it fails with STARTUP_LOG.healthSilent. GCE's guest agent runs the script to completion,
 *    its output on the serial console, where the provider reads how the boot went (bootProblems).
 *
 * Every location and command has an `HACP_*` override (HACP_ROOT, HACP_DEVICE, HACP_MANIFESTS_DIR,
 * HACP_KUBELET_CONFIG_DIR, HACP_BIN_DIR, HACP_SYSTEMD_DIR, HACP_METADATA_URL, HACP_RELEASE_URL,
 * HACP_CONTAINERD_SOCKET, HACP_DEVICE_WAIT_SECONDS, HACP_HEALTH_URL, HACP_HEALTH_WAIT_SECONDS,
 * HACP_MOUNT, HACP_MKFS, HACP_BLKID, HACP_MOUNTPOINT, HACP_SYSTEMCTL, HACP_CONTAINERD, HACP_CONTAINERD_CONFIG, HACP_CONTAINERD_CERTS_DIR)
 * for tests; the defaults are the real ones.
 *
 * @example
 * metadata.push({ key: 'startup-script', value: renderStartupScript() });
 */
export function renderStartupScript(): string {
  return STARTUP_SCRIPT;
}

// A template literal: each `\${` below is bash's own `${`; the unescaped ones are TypeScript's.
const STARTUP_SCRIPT = `#!/bin/bash
# hacp: boots a control-plane replica. Rendered by @hacp/provider-gce, the same on every replica:
# everything specific comes from this instance's metadata. GCE's guest agent runs it as root on
# every boot, so each step looks before it acts. Locations and commands can be overridden with
# HACP_* variables (the tests do); the defaults are the real ones.
set -euo pipefail
umask 077

metadata_url="\${HACP_METADATA_URL:-${METADATA_URL}}"
release_url="\${HACP_RELEASE_URL:-${RELEASE_URL}}"
root="\${HACP_ROOT:-${REPLICA_ROOT_DIR}}"
device="\${HACP_DEVICE:-${DATA_DISK_PATH}}"
device_wait_seconds="\${HACP_DEVICE_WAIT_SECONDS:-300}"
health_url="\${HACP_HEALTH_URL:-${HEALTH_URL}}"
health_wait_seconds="\${HACP_HEALTH_WAIT_SECONDS:-1800}"
manifests_dir="\${HACP_MANIFESTS_DIR:-${MANIFESTS_DIR}}"
kubelet_config_dir="\${HACP_KUBELET_CONFIG_DIR:-/etc/kubernetes}"
bin_dir="\${HACP_BIN_DIR:-${BIN_DIR}}"
systemd_dir="\${HACP_SYSTEMD_DIR:-/etc/systemd/system}"
containerd_socket="\${HACP_CONTAINERD_SOCKET:-/run/containerd/containerd.sock}"
mount_command="\${HACP_MOUNT:-mount}"
mkfs_command="\${HACP_MKFS:-mkfs.ext4}"
blkid_command="\${HACP_BLKID:-blkid}"
mountpoint_command="\${HACP_MOUNTPOINT:-mountpoint}"
systemctl_command="\${HACP_SYSTEMCTL:-systemctl}"
containerd_command="\${HACP_CONTAINERD:-containerd}"
containerd_config="\${HACP_CONTAINERD_CONFIG:-${CONTAINERD_CONFIG_PATH}}"
containerd_certs_dir="\${HACP_CONTAINERD_CERTS_DIR:-${CONTAINERD_CERTS_DIR}}"

# Temporary files left by a failed step: removed on exit, whatever happened.
pending=()
work_dir="$(mktemp -d)"
cleanup() {
  rm -rf -- "$work_dir"
  if ((\${#pending[@]} > 0)); then rm -f -- "\${pending[@]}"; fi
}
trap cleanup EXIT

log() { printf '${STARTUP_LOG.prefix}%s\\n' "$*"; }
fail() {
  printf '${STARTUP_LOG.errorPrefix}%s\\n' "$*" >&2
  exit 1
}

# fetch URL FILE [HEADER]: downloads with retries on refused connections, timeouts and 5xx.
fetch() {
  local -a header=()
  if (($# > 2)); then header=(-H "$3"); fi
  curl -fsSL --retry 10 --retry-delay 2 --retry-connrefused --connect-timeout 10 \\
    \${header[@]+"\${header[@]}"} -o "$2" "$1"
}

# metadata KEY FILE: one of this instance's metadata values, into FILE.
metadata() {
  fetch "$metadata_url/$1" "$2" 'Metadata-Flavor: Google' || fail "could not read instance metadata $1"
}

# temp_beside DEST: a new hidden temporary file in DEST's folder (so mv is atomic, and the kubelet
# ignores it in its manifest folder), recorded for cleanup. Sets $temp.
temp_beside() {
  local dir base
  dir="$(dirname -- "$1")"
  base="$(basename -- "$1")"
  temp="$(mktemp "$dir/.$base.hacp.XXXXXX")"
  pending+=("$temp")
}

# place TEMP DEST MODE: moves TEMP to DEST with MODE unless DEST has that content and mode already
# (then DEST, its mtime included, is left alone). Sets placed=yes when DEST changed, else no.
# Functions report through variables, never their status: bash ignores \`set -e\` inside a function
# called as a condition, which would let a failed mv pass unnoticed.
place() {
  local temp_file="$1" dest="$2" mode="$3" old new
  placed=no
  chmod "$mode" "$temp_file"
  if [[ -f $dest && "$(stat -c %a "$dest")" == "$(stat -c %a "$temp_file")" ]]; then
    old="$(sha256sum <"$dest")"
    new="$(sha256sum <"$temp_file")"
    if [[ $old == "$new" ]]; then
      rm -f -- "$temp_file"
      return 0
    fi
  fi
  mv -f -- "$temp_file" "$dest"
  placed=yes
}

# valid_path PATH: relative, segments of [A-Za-z0-9._-], no empty, "." or ".." segment.
valid_path() {
  local pattern='^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$'
  [[ $1 =~ $pattern && /$1/ != */./* && /$1/ != */../* ]]
}

# 0. The container runtime. The static pods run under containerd, which the image must have; its
# configuration is written when it differs (and only then is containerd restarted): runc with the
# systemd cgroup driver, as the kubelet's, the version's pause image, the registry mirrors.
configure_containerd() {
  local registry data file hosts
  local -A listed=()
  local pattern='^[a-z0-9][a-z0-9.-]*(:[0-9]+)?$'
  command -v "$containerd_command" >/dev/null 2>&1 ||
    fail "this image has no container runtime ($containerd_command not found), and the replica's control plane runs as static pods under containerd: create replicas from an image that has it, Container-Optimized OS (projects/cos-cloud/global/images/family/cos-stable) or a GKE Ubuntu image (projects/ubuntu-os-gke-cloud)"
  metadata ${METADATA_KEYS.containerdConfig} "$work_dir/containerd-config"
  mkdir -p -- "$(dirname -- "$containerd_config")"
  temp_beside "$containerd_config"
  cat -- "$work_dir/containerd-config" >"$temp"
  place "$temp" "$containerd_config" 0644
  local containerd_changed=$placed
  metadata ${METADATA_KEYS.registryHosts} "$work_dir/registry-hosts"
  while read -r registry data || [[ -n \${registry:-} ]]; do
    [[ -n $registry ]] || continue
    [[ $registry =~ $pattern ]] || fail "${METADATA_KEYS.registryHosts}: bad registry name"
    hosts="$containerd_certs_dir/$registry/hosts.toml"
    mkdir -p -- "$containerd_certs_dir/$registry"
    temp_beside "$hosts"
    printf '%s' "$data" | base64 -d >"$temp" || fail "${METADATA_KEYS.registryHosts}: $registry is not valid base64"
    place "$temp" "$hosts" 0644
    listed[$registry]=1
  done <"$work_dir/registry-hosts"
  # hacp's mirrors of registries no longer listed go; containerd reads these files at every pull.
  for file in "$containerd_certs_dir"/*/hosts.toml; do
    [[ -f $file ]] || continue
    registry="$(basename -- "$(dirname -- "$file")")"
    if [[ -z \${listed[$registry]:-} && "$(head -n 1 -- "$file")" == '${REGISTRY_HOSTS_MARKER}' ]]; then
      rm -f -- "$file"
      log "removed the registry mirrors of $registry"
    fi
  done
  if [[ $containerd_changed == yes ]]; then
    log "containerd's configuration changed: restarting containerd"
    "$systemctl_command" restart containerd.service
  else
    log "containerd's configuration is unchanged"
  fi
}

# 1. The data disk: formatted only when it holds no filesystem, mounted at the replica's root.
mount_data_disk() {
  local waited=0 status=0 fs_type=''
  while [[ ! -e $device ]]; do
    ((waited < device_wait_seconds)) || fail "the data disk $device did not appear"
    sleep 1
    waited=$((waited + 1))
  done
  fs_type="$("$blkid_command" -p -s TYPE -o value "$device")" || status=$?
  if ((status == 2)); then
    # blkid's "nothing found": a new disk. Any other answer means data, never formatted over.
    log "formatting the data disk $device"
    "$mkfs_command" -F -m 0 -E lazy_itable_init=0,lazy_journal_init=0,discard "$device"
  elif ((status != 0)); then
    fail "blkid could not read $device (exit $status)"
  else
    log "the data disk $device holds \${fs_type:-a partition table}"
  fi
  mkdir -p -- "$root"
  if ! "$mountpoint_command" -q "$root"; then
    "$mount_command" -o discard,defaults "$device" "$root"
    log "mounted $device at $root"
  fi
  chmod 0700 "$root"
}

# 1b. Whose disk it is: the instance id (stable across stops and starts, new for a new instance)
# is kept in $owner_file. A disk another instance wrote holds an earlier replica's etcd data: that
# member was removed, and the new replica joins as a new member, which must start empty (etcd
# refuses, or worse, a data folder of another member). So what the other instance left is moved
# aside, never deleted. A disk without the file is this instance's, or one written before hacp kept
# it: left as it is. A disk handed over on purpose (metadata ${METADATA_KEYS.dataDisk}=handed-over:
# hacp deleted the other instance keeping the disk, to migrate its member here) is taken over whole.
claim_data_disk() {
  local owner_file="$root/${DISK_OWNER_FILE}" id owner='' aside entry handover
  fetch "\${metadata_url%/attributes}/id" "$work_dir/instance-id" 'Metadata-Flavor: Google' ||
    fail "could not read this instance's id from the metadata server"
  id="$(<"$work_dir/instance-id")"
  [[ $id =~ ^[0-9]+$ ]] || fail "the metadata server's instance id is not a number"
  if [[ -f $owner_file ]]; then owner="$(<"$owner_file")"; fi
  [[ -z $owner || $owner =~ ^[0-9]+$ ]] || owner=unknown
  metadata ${METADATA_KEYS.dataDisk} "$work_dir/data-disk"
  handover="$(<"$work_dir/data-disk")"
  [[ $handover == own || $handover == handed-over ]] || fail "${METADATA_KEYS.dataDisk} is neither own nor handed-over"
  if [[ -n $owner && $owner != "$id" && $handover == handed-over ]]; then
    log "the data disk was written by instance $owner and handed over to this one: its etcd data kept"
  elif [[ -n $owner && $owner != "$id" ]]; then
    aside="$root/stale-$(date -u +%Y%m%dT%H%M%SZ)-$owner"
    mkdir -p -- "$aside"
    for entry in "$root"/* "$root"/.[!.]*; do
      [[ -e $entry ]] || continue
      case "$(basename -- "$entry")" in
        lost+found | stale-* | ${DISK_OWNER_FILE}) continue ;;
      esac
      mv -- "$entry" "$aside/"
    done
    log "the data disk was written by instance $owner, not this one: what it left (an earlier member's etcd data) moved to $aside"
  fi
  if [[ $owner != "$id" ]]; then
    temp_beside "$owner_file"
    printf '%s\n' "$id" >"$temp"
    place "$temp" "$owner_file" 0600
  fi
}

# 2. The replica's files (certificates, keys, configs), each with its mode. Contents are never printed.
write_files() {
  local mode file data dest written=0 total=0
  metadata ${METADATA_KEYS.files} "$work_dir/files"
  while read -r mode file data || [[ -n \${mode:-} ]]; do
    [[ -n $mode ]] || continue
    total=$((total + 1))
    [[ $mode =~ ^0[0-7]{3}$ ]] || fail "${METADATA_KEYS.files} line $total: bad mode"
    valid_path "$file" || fail "${METADATA_KEYS.files} line $total: bad path"
    dest="$root/$file"
    mkdir -p -- "$(dirname -- "$dest")"
    temp_beside "$dest"
    printf '%s' "$data" | base64 -d >"$temp" || fail "${METADATA_KEYS.files}: $file is not valid base64"
    place "$temp" "$dest" "$mode"
    if [[ $placed == yes ]]; then written=$((written + 1)); fi
  done <"$work_dir/files"
  log "files: $written of $total written, the rest unchanged"
}

# 3. The kubelet of the cluster's version, from the official release location, checksum verified.
# Sets kubelet_changed=yes when it installed a binary.
install_kubelet() {
  local version arch url expected actual stamp="$bin_dir/kubelet.hacp-version" installed=''
  metadata ${METADATA_KEYS.kubernetesVersion} "$work_dir/version"
  version="$(<"$work_dir/version")"
  [[ $version =~ ^[0-9]+[.][0-9]+[.][0-9]+(-[0-9A-Za-z.-]+)?([+][0-9A-Za-z.-]+)?$ ]] || fail "${METADATA_KEYS.kubernetesVersion} is not a version"
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) fail "no kubelet for the $(uname -m) architecture" ;;
  esac
  mkdir -p -- "$bin_dir"
  chmod 0755 "$bin_dir"
  # COS mounts /home noexec: the bin folder is remounted exec, as kube-up's master.yaml does.
  if ! "$mountpoint_command" -q "$bin_dir"; then
    "$mount_command" --bind "$bin_dir" "$bin_dir"
    "$mount_command" -o remount,exec "$bin_dir"
  fi
  if [[ -f $stamp ]]; then installed="$(<"$stamp")"; fi
  if [[ -x $bin_dir/kubelet && -n $installed ]]; then
    actual="$(sha256sum <"$bin_dir/kubelet")"
    if [[ $installed == "v$version \${actual%% *}" ]]; then
      log "kubelet v$version is installed"
      return 0
    fi
  fi
  url="$release_url/v$version/bin/linux/$arch/kubelet"
  fetch "$url.sha256" "$work_dir/kubelet.sha256" || fail "could not download $url.sha256"
  expected="$(<"$work_dir/kubelet.sha256")"
  expected="\${expected%%[[:space:]]*}"
  [[ $expected =~ ^[0-9a-f]{64}$ ]] || fail "$url.sha256 holds no sha256"
  temp_beside "$bin_dir/kubelet"
  fetch "$url" "$temp" || fail "could not download $url"
  actual="$(sha256sum <"$temp")"
  if [[ \${actual%% *} != "$expected" ]]; then
    rm -f -- "$temp"
    fail "$url does not match its sha256: not installed"
  fi
  chmod 0755 "$temp"
  mv -f -- "$temp" "$bin_dir/kubelet"
  temp_beside "$stamp"
  printf 'v%s %s\\n' "$version" "$expected" >"$temp"
  place "$temp" "$stamp" 0644
  kubelet_changed=yes
  log "installed kubelet v$version"
}

# 4. The kubelet's configuration and unit: standalone, it runs the static pods and nothing else.
# Sets kubelet_changed=yes when either changed.
configure_kubelet() {
  local config="$kubelet_config_dir/kubelet-config.yaml" unit="$systemd_dir/kubelet.service"
  mkdir -p -- "$kubelet_config_dir" "$systemd_dir" "$manifests_dir"
  temp_beside "$config"
  cat >"$temp" <<CONFIG
# Written by hacp. A standalone kubelet: no API server, only the static pods in staticPodPath.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: $manifests_dir
containerRuntimeEndpoint: unix://$containerd_socket
cgroupDriver: systemd
# Nothing may use the kubelet's API: no anonymous access, no API server to ask about tokens.
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
address: 127.0.0.1
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
CONFIG
  place "$temp" "$config" 0644
  if [[ $placed == yes ]]; then kubelet_changed=yes; fi
  temp_beside "$unit"
  cat >"$temp" <<UNIT
# Written by hacp.
[Unit]
Description=kubelet: runs hacp's static control-plane pods
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/
Wants=network-online.target containerd.service
After=network-online.target containerd.service

[Service]
ExecStart=$bin_dir/kubelet --config=$config --v=2
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
  place "$temp" "$unit" 0644
  if [[ $placed == yes ]]; then kubelet_changed=yes; fi
}

# 5. The static pods: every listed manifest written, hacp's manifests no longer listed removed.
write_manifests() {
  local name data written=0 total=0 file
  local -A listed=()
  local pattern='^hacp-[a-z0-9][a-z0-9-]*[.]json$'
  metadata ${METADATA_KEYS.manifests} "$work_dir/manifests"
  mkdir -p -- "$manifests_dir"
  while read -r name data || [[ -n \${name:-} ]]; do
    [[ -n $name ]] || continue
    total=$((total + 1))
    [[ $name =~ $pattern ]] || fail "${METADATA_KEYS.manifests} line $total: bad file name"
    temp_beside "$manifests_dir/$name"
    printf '%s' "$data" | base64 -d >"$temp" || fail "${METADATA_KEYS.manifests}: $name is not valid base64"
    place "$temp" "$manifests_dir/$name" 0600
    if [[ $placed == yes ]]; then written=$((written + 1)); fi
    listed[$name]=1
  done <"$work_dir/manifests"
  for file in "$manifests_dir"/hacp-*.json; do
    [[ -f $file ]] || continue
    name="$(basename -- "$file")"
    if [[ -z \${listed[$name]:-} ]]; then
      rm -f -- "$file"
      log "removed the static pod $name"
    fi
  done
  log "static pods: $written of $total written, the rest unchanged"
}

# 6. The health endpoint (a static pod): the boot is done when it answers 200, which it does once the
# local kube-apiserver is ready (or the local etcd member healthy). Waits in the foreground, so the
# serial console tells how the boot ended; a kubelet restarting its pods meanwhile is fine.
wait_for_health() {
  local started=$SECONDS next_report=$SECONDS
  [[ $health_wait_seconds =~ ^[0-9]+$ ]] || fail "HACP_HEALTH_WAIT_SECONDS is not a number of seconds"
  until curl -fsS -o /dev/null --max-time 5 "$health_url" 2>/dev/null; do
    if ((SECONDS - started >= health_wait_seconds)); then
      fail "${STARTUP_LOG.healthSilent} $health_wait_seconds s"
    fi
    if ((SECONDS >= next_report)); then
      log "${STARTUP_LOG.healthWaiting} at $health_url ($((SECONDS - started)) s so far)"
      next_report=$((SECONDS + 60))
    fi
    sleep 1
  done
  log "${STARTUP_LOG.healthAnswers}"
}

placed=no
kubelet_changed=no
metadata ${METADATA_KEYS.cluster} "$work_dir/cluster"
cluster="$(<"$work_dir/cluster")"
[[ $cluster =~ ^[a-z][a-z0-9-]*$ ]] || fail "${METADATA_KEYS.cluster} is not a cluster name"
log "${STARTUP_LOG.booting} $cluster"
configure_containerd
mount_data_disk
claim_data_disk
write_files
install_kubelet
configure_kubelet
# The manifests go in before the kubelet (re)starts, so it starts every pod at once.
write_manifests
if [[ $kubelet_changed == yes ]]; then
  "$systemctl_command" daemon-reload
  "$systemctl_command" enable kubelet.service
  "$systemctl_command" restart kubelet.service
else
  "$systemctl_command" enable --now kubelet.service
fi
log "replica of cluster $cluster booted"
wait_for_health
`;
