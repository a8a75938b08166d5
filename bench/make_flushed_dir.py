#!/usr/bin/python3
"""Grows a real, flushed Chroma persistent directory FACTOR times, for memory benchmarks at scale.

Writing 1,000,000 records through a Chroma server takes a long time on 2 cores, so this starts
from a directory the server wrote and flushed (bench/run.py's cache: metadata segment in SQLite,
vectors in the HNSW segment files, a near-empty write-ahead log) and replicates its records:
copy k of record `doc-1` is `doc-1-r<k>`, with the same vector, document and metadata, its own
SQLite row ids and HNSW label. The result has the shape of a large flushed directory (what Chroma
leaves after its syncs): `embeddings`/`embedding_metadata` rows, `data_level0.bin`/`length.bin`
elements, and an `index_metadata.pickle` with one id↔label pair per record. `link_lists.bin` is
copied unchanged (chroma2pg never reads the graph, and Chroma would not load this index).

Usage: make_flushed_dir.py SRC_DIR OUT_DIR FACTOR
"""
import os
import pickle
import shutil
import sqlite3
import struct
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, out, factor = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if os.path.exists(out):
        sys.exit("%s exists" % out)
    shutil.copytree(src, out)
    db = sqlite3.connect(os.path.join(out, "chroma.sqlite3"))
    (seg_dir,) = [d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))]
    seg = os.path.join(out, seg_dir)
    n0 = db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    lo, hi = db.execute("SELECT min(id), max(id) FROM embeddings").fetchone()
    if (lo, hi) != (1, n0):
        sys.exit("expected embeddings.id 1..%d, found %d..%d" % (n0, lo, hi))

    for k in range(1, factor):
        db.execute("INSERT INTO embeddings (id, segment_id, embedding_id, seq_id, created_at) "
                   "SELECT id + ?, segment_id, embedding_id || '-r' || ?, seq_id, created_at FROM embeddings WHERE id <= ?",
                   (k * n0, k, n0))
        db.execute("INSERT INTO embedding_metadata (id, key, string_value, int_value, float_value, bool_value) "
                   "SELECT id + ?, key, string_value, int_value, float_value, bool_value FROM embedding_metadata "
                   "WHERE id <= ?", (k * n0, n0))
        print("  sqlite copy %d/%d" % (k + 1, factor), file=sys.stderr)
    db.commit()
    db.close()

    with open(os.path.join(seg, "header.bin"), "rb") as f:
        hdr = bytearray(f.read())
    max_el, cur = struct.unpack_from("<QQ", hdr, 12)
    size_el, label_off = struct.unpack_from("<QQ", hdr, 28)
    if cur != n0:
        sys.exit("header.bin holds %d elements, SQLite %d records" % (cur, n0))
    struct.pack_into("<QQ", hdr, 12, max(max_el, n0 * factor), n0 * factor)
    with open(os.path.join(seg, "header.bin"), "wb") as f:
        f.write(hdr)

    with open(os.path.join(seg, "data_level0.bin"), "rb") as f:
        base = f.read()
    with open(os.path.join(seg, "data_level0.bin"), "ab") as f:
        for k in range(1, factor):
            chunk = bytearray(base)
            for i in range(n0):
                at = i * size_el + label_off
                (label,) = struct.unpack_from("<Q", chunk, at)
                struct.pack_into("<Q", chunk, at, label + k * n0)
            f.write(chunk)
    with open(os.path.join(seg, "length.bin"), "rb") as f:
        lengths = f.read()
    with open(os.path.join(seg, "length.bin"), "ab") as f:
        for _ in range(1, factor):
            f.write(lengths)

    with open(os.path.join(seg, "index_metadata.pickle"), "rb") as f:
        meta = pickle.load(f)
    il = dict(meta["id_to_label"])
    for k in range(1, factor):
        for i, label in meta["id_to_label"].items():
            il["%s-r%d" % (i, k)] = label + k * n0
    meta["id_to_label"] = il
    meta["label_to_id"] = {label: i for i, label in il.items()}
    meta["total_elements_added"] = n0 * factor
    with open(os.path.join(seg, "index_metadata.pickle"), "wb") as f:
        pickle.dump(meta, f, protocol=3)
    print("%s: %d records" % (out, n0 * factor))


if __name__ == "__main__":
    main()
