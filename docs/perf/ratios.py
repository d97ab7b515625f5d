#!/usr/bin/env python3
# Prints, per benchmark line, the median and range (lowest-highest line) of every ratio metric: docs/perf/ratios.py FILE...
import sys, re, statistics, collections
for path in sys.argv[1:]:
    vals = collections.defaultdict(list)
    for line in open(path):
        if not line.startswith('Benchmark'):
            continue
        f = line.split()
        name = f[0]
        for i in range(2, len(f) - 1, 2):
            unit = f[i + 1]
            if 'ratio' in unit or 'per-conn' in unit or 'B/conn' in unit or unit.endswith('/conn'):
                try:
                    vals[(name, unit)].append(float(f[i]))
                except ValueError:
                    pass
    print('==', path)
    for (name, unit), v in vals.items():
        print(f'{name:70s} {unit:22s} n={len(v):2d} median {statistics.median(v):8.3f} ({min(v):.2f}-{max(v):.2f})')
