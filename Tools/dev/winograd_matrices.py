#!/usr/bin/env python3
"""Derives the Winograd F(m, r) matrices of Sources/CCapsKernels/winograd.c (m = 2, r = 5, points
0, 1, -1, 2, -2 and infinity) with exact rational arithmetic, and checks them.

    python3 Tools/dev/winograd_matrices.py [m r]

A^T (m x n) and G (n x r) follow Toom-Cook: A^T[i][j] = p_j^i and G[j][k] = p_j^k / prod_{l != j}(p_j - p_l)
for the finite points, with the point at infinity as the last column / row. B^T (n x n) is then
the unique matrix with A^T [(G g) . (B^T d)] = the correlation of d (n values) with g (r values)
for every d and g, solved column by column. The check: that identity on every pair of unit
vectors, exactly. winograd.c writes B^T and A^T as integer expressions (exact in float) and
computes G in double.
"""
import sys
from fractions import Fraction as F


def matrices(m, r, points):
    n = m + r - 1
    assert len(points) == n - 1, f"F({m}, {r}) needs {n - 1} finite points"
    at = [[p**i for p in points] + [F(int(i == m - 1))] for i in range(m)]
    g = []
    for j, pj in enumerate(points):
        denominator = F(1)
        for l, pl in enumerate(points):
            if l != j:
                denominator *= pj - pl
        g.append([pj**k / denominator for k in range(r)])
    g.append([F(int(k == r - 1)) for k in range(r)])
    bt = [[F(0)] * n for _ in range(n)]
    for t in range(n):
        # Unknowns: column t of B^T. Equations: for each output i and tap k, sum_j A^T[i][j] G[j][k]
        # B^T[j][t] = 1 if t == i + k else 0.
        rows = [[at[i][j] * g[j][k] for j in range(n)] + [F(int(t == i + k))] for i in range(m) for k in range(r)]
        pivots, rank = [], 0
        for c in range(n):
            p = next((q for q in range(rank, len(rows)) if rows[q][c] != 0), None)
            if p is None:
                continue
            rows[rank], rows[p] = rows[p], rows[rank]
            for q in range(len(rows)):
                if q != rank and rows[q][c] != 0:
                    f = rows[q][c] / rows[rank][c]
                    rows[q] = [a - f * b for a, b in zip(rows[q], rows[rank])]
            pivots.append(c)
            rank += 1
        assert all(row[n] == 0 for row in rows[rank:]), "no B^T for these points"
        for q, c in enumerate(pivots):
            bt[c][t] = rows[q][n] / rows[q][c]
    return at, g, bt


def check(m, r, at, g, bt):
    n = m + r - 1
    for dj in range(n):
        for gk in range(r):
            for i in range(m):
                # d = e_dj, g = e_gk: the correlation's output i is 1 iff dj == i + gk.
                value = sum(at[i][j] * g[j][gk] * bt[j][dj] for j in range(n))
                assert value == int(dj == i + gk), (dj, gk, i, value)


def main():
    m, r = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) == 3 else (2, 5)
    candidates = [F(0), F(1), F(-1), F(2), F(-2), F(1, 2), F(-1, 2), F(3), F(-3)]
    at, g, bt = matrices(m, r, candidates[: m + r - 2])
    check(m, r, at, g, bt)
    for name, matrix in (("A^T", at), ("G", g), ("B^T", bt)):
        print(name)
        for row in matrix:
            print("  " + "  ".join(f"{str(v):>6}" for v in row))
    print(f"F({m}, {r}): A^T (G g . B^T d) equals the correlation exactly for every unit d and g")


if __name__ == "__main__":
    main()
