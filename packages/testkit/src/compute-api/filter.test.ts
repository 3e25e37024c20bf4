import { describe, expect, it } from 'vitest';
import { compileFilter, FilterSyntaxError } from './filter.js';

const blue = {
  name: 'cp-1',
  status: 'RUNNING',
  labels: { 'hacp-cluster': 'blue' },
  scheduling: { preemptible: false },
  cpus: 4,
};
const green = {
  name: 'cp-2',
  status: 'TERMINATED',
  labels: { 'hacp-cluster': 'green', tier: 'x' },
  cpus: 16,
};
const pick = (filter: string) => [blue, green].filter(compileFilter(filter)).map((r) => r.name);

describe('compileFilter', () => {
  it('matches label and name terms, quoted or bare, with or without spaces', () => {
    expect(pick('labels.hacp-cluster = "blue"')).toEqual(['cp-1']);
    expect(pick('labels.hacp-cluster=green')).toEqual(['cp-2']);
    expect(pick("name = 'cp-2'")).toEqual(['cp-2']);
    expect(pick('')).toEqual(['cp-1', 'cp-2']);
  });

  it('combines terms with juxtaposition, AND, OR, NOT and parentheses', () => {
    expect(pick('(labels.hacp-cluster = "blue") (status = RUNNING)')).toEqual(['cp-1']);
    expect(pick('labels.hacp-cluster = "blue" AND status = TERMINATED')).toEqual([]);
    expect(pick('name = cp-1 OR name = cp-2')).toEqual(['cp-1', 'cp-2']);
    expect(pick('NOT name = cp-1')).toEqual(['cp-2']);
  });

  it('has != (true when absent), :* for presence, : for substrings, globs, numbers and booleans', () => {
    expect(pick('labels.tier != "x"')).toEqual(['cp-1']);
    expect(pick('labels.tier:*')).toEqual(['cp-2']);
    expect(pick('status:TERM')).toEqual(['cp-2']);
    expect(pick('name = "cp-*"')).toEqual(['cp-1', 'cp-2']);
    expect(pick('cpus > 8')).toEqual(['cp-2']);
    expect(pick('scheduling.preemptible = false')).toEqual(['cp-1']);
  });

  it('has the legacy eq/ne with a regular expression over the whole value', () => {
    expect(pick('name eq cp-.')).toEqual(['cp-1', 'cp-2']);
    expect(pick('name eq "cp"')).toEqual([]);
    expect(pick('name ne .*-1')).toEqual(['cp-2']);
  });

  it('throws FilterSyntaxError for what does not parse', () => {
    for (const bad of ['labels.x =', '= "x"', '(name = a', 'name a', 'name eq "("', '"name" = a']) {
      expect(() => compileFilter(bad), bad).toThrow(FilterSyntaxError);
    }
  });
});
