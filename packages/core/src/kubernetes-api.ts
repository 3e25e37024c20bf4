/**
 * What a Kubernetes API server's error answer said, read from @kubernetes/client-node's
 * `ApiException` (of any copy of that package) by its shape, so that every package maps the same
 * answer the same way without core depending on the client.
 */

/** The fields of a `meta/v1 Status` body that error mappings read or report. */
export interface KubernetesApiStatus {
  reason?: string;
  message?: string;
  details?: { kind?: string; name?: string };
}

/** An error answer: its HTTP status and its Status body (empty when it had none). */
export interface KubernetesApiAnswer {
  httpStatus: number;
  status: KubernetesApiStatus;
}

function parseStatus(body: unknown): KubernetesApiStatus {
  if (typeof body === 'object' && body !== null) return body as KubernetesApiStatus;
  if (typeof body !== 'string' || body === '') return {};
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as KubernetesApiStatus) : {};
  } catch {
    return {};
  }
}

/**
 * The answer an `ApiException` carries (client-node throws one for every non-2xx answer, its body a
 * string), or undefined for anything else (a network failure, a bug).
 *
 * @example
 * kubernetesApiAnswerOf(error)?.httpStatus === 404; // the object is not there
 */
export function kubernetesApiAnswerOf(error: unknown): KubernetesApiAnswer | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const answer = error as { code?: unknown; body?: unknown };
  if (typeof answer.code !== 'number' || !('body' in error) || !('headers' in error)) return undefined;
  return { httpStatus: answer.code, status: parseStatus(answer.body) };
}
