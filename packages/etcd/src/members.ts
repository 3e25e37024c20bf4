/**
 * Members as the client shows them, and the refusals and flags built from a member list.
 */
import { ErrorCode, HacpError } from '@hacp/core';
import type { IMember } from 'etcd3';
import { formatInitialCluster, type InitialClusterEntry } from './flags.js';
import type { EtcdMember, MemberHealth } from './types.js';
import { hexId } from './urls.js';

export function toMember(member: IMember): EtcdMember {
  return {
    id: member.ID,
    name: member.name,
    peerUrls: [...member.peerURLs],
    clientUrls: [...member.clientURLs],
    learner: member.isLearner === true,
    started: member.name !== '',
  };
}

/** `name [hex id]`, the way people compare it with etcdctl's output. */
export function describeMember(member: Pick<EtcdMember, 'id' | 'name'>): string {
  return `${member.name || '(unstarted)'} [${hexId(member.id)}]`;
}

/** @throws HacpError ABORTED when `signal` is aborted, before `what` starts. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    throw new HacpError({
      code: ErrorCode.ABORTED,
      message: `Stopped before ${what}: the operation was aborted.`,
      actions: ['Run the same command again to continue.'],
      cause: signal.reason,
    });
  }
}

export function memberNotFound(id: string, list: readonly EtcdMember[]): HacpError {
  return new HacpError({
    code: ErrorCode.NOT_FOUND,
    message: `No etcd member has the id ${id} (${hexId(id)} in hex). Members: ${
      list.map(describeMember).join(', ') || 'none'
    }.`,
    actions: ['Use an id from the member list (`hacp status`).'],
    details: { memberId: id, members: list.map((member) => member.id) },
  });
}

export function memberUnreachable(member: EtcdMember): HacpError {
  return new HacpError({
    code: ErrorCode.UNAVAILABLE,
    message: `Member ${describeMember(member)} has no client URL this machine can reach.`,
    details: { memberId: member.id },
  });
}

/** Endpoints of healthy voters, `exclude` left out: where changes go through. */
export function healthyVoterEndpoints(checked: readonly MemberHealth[], exclude?: string): string[] {
  return checked
    .filter(
      (entry) => entry.healthy && !entry.learner && entry.id !== exclude && entry.endpoint !== undefined,
    )
    .map((entry) => entry.endpoint as string);
}

/** `--initial-cluster` for a member joining `list`: everyone, the joining member under `name`. */
export function initialClusterOf(list: readonly EtcdMember[], id: string, name: string): string {
  const entries: InitialClusterEntry[] = [];
  for (const member of list) {
    const memberName = member.id === id ? name : member.name;
    // Another member that never started has no name; etcd would refuse the flag, and hacp never adds two.
    if (memberName === '') continue;
    for (const peerUrl of member.peerUrls) entries.push({ name: memberName, peerUrl });
  }
  return formatInitialCluster(entries);
}
