import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The only parts of a GCE guest that cannot run here, as small bash programs the startup script calls
 * through its HACP_* overrides. A persistent disk is a folder; its "filesystem" is a marker file in
 * it; mounting it makes the mount point a symlink to the folder, so what the script and the pods
 * write lands on the disk and outlives the VM. Mount points and unit requests are recorded in files
 * the runtime reads (`HACP_VM_MOUNTS`, `HACP_VM_SYSTEMD_STATE`); a reboot starts with no mounts.
 */
export interface StandIns {
  mkfs: string;
  blkid: string;
  mount: string;
  mountpoint: string;
  systemctl: string;
  containerd: string;
}

/** The marker file whose presence means "this disk holds a filesystem". */
export const FILESYSTEM_MARKER = '.hacp-filesystem';

const HEADER =
  '#!/bin/bash\n# A stand-in written by the Compute API test server: see guest-stand-ins.ts.\nset -euo pipefail\n';

const SCRIPTS: Record<keyof StandIns, string> = {
  // mkfs.ext4 [options] DEVICE
  mkfs: `dev="\${*: -1}"\n[[ -d $dev ]] || { echo "mkfs: $dev is not a disk" >&2; exit 1; }\nprintf 'ext4\\n' >"$dev/${FILESYSTEM_MARKER}"\necho "mke2fs: created an ext4 filesystem on $dev"\n`,
  // blkid -p -s TYPE -o value DEVICE: exit 2 when nothing is found, as blkid does.
  blkid: `dev="\${*: -1}"\n[[ -e $dev ]] || exit 2\nif [[ -f $dev/${FILESYSTEM_MARKER} ]]; then cat "$dev/${FILESYSTEM_MARKER}"; exit 0; fi\nexit 2\n`,
  // mountpoint -q PATH
  mountpoint: `target="\${*: -1}"\n[[ -f \${HACP_VM_MOUNTS:?} ]] && grep -qxF -- "$target" "$HACP_VM_MOUNTS"\n`,
  // mount -o OPTS DEVICE TARGET | mount --bind DIR DIR | mount -o remount,OPTS TARGET
  mount: `args=("$@")
target="\${args[-1]}"
if [[ " $* " == *" --bind "* || " $* " == *"remount"* ]]; then
  grep -qxF -- "$target" "\${HACP_VM_MOUNTS:?}" 2>/dev/null || printf '%s\\n' "$target" >>"$HACP_VM_MOUNTS"
  exit 0
fi
device="\${args[-2]}"
[[ -f $device/${FILESYSTEM_MARKER} ]] || { echo "mount: $device: wrong fs type, bad option, bad superblock" >&2; exit 32; }
# The mount point becomes the disk: an empty folder is replaced by a link to the disk's folder.
if [[ -d $target && ! -L $target ]]; then rmdir -- "$target"; fi
ln -sfn -- "$device" "$target"
printf '%s\\n' "$target" >>"\${HACP_VM_MOUNTS:?}"
`,
  // systemctl daemon-reload | enable [--now] UNIT | restart UNIT | start UNIT
  systemctl: `state="\${HACP_VM_SYSTEMD_STATE:?}"
mkdir -p -- "$state"
now=no
verb="$1"; shift
for arg in "$@"; do
  case "$arg" in
    --now) now=yes ;;
    *)
      case "$verb" in
        enable) touch -- "$state/$arg.enabled"; if [[ $now == yes ]]; then touch -- "$state/$arg.start"; fi ;;
        start) touch -- "$state/$arg.start" ;;
        restart) touch -- "$state/$arg.restart" ;;
        *) ;;
      esac ;;
  esac
done
`,
  // The container runtime: present, and answers --version, as COS's containerd does.
  containerd:
    'echo "containerd github.com/containerd/containerd v1.7.0 (stand-in of the Compute API test server)"\n',
};

/** Writes the stand-ins into `dir` (0755) and returns their paths. */
export function writeStandIns(dir: string): StandIns {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const paths = {} as StandIns;
  for (const [name, body] of Object.entries(SCRIPTS) as [keyof StandIns, string][]) {
    const file = join(dir, name);
    writeFileSync(file, HEADER + body, { mode: 0o755 });
    paths[name] = file;
  }
  return paths;
}
