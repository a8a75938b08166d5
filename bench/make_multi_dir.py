#!/usr/bin/python3
"""Splits the one collection of a flushed Chroma persistent directory into K collections of equal size,
for the many-collections benchmark (bench/app_ready.py --dir OUT).

Start from a directory that make_flushed_dir.py grew (e.g. 1,000,000 records: K=4 gives the issue's
4 x 250,000). Collection j holds the records at positions [j*m, (j+1)*m) with their vectors: its own
`collections` row (name "<name>_<j>", the same configuration), its own metadata and vector segments,
and a vector segment directory with its slice of `data_level0.bin` / `length.bin` and an
`index_metadata.pickle` of just its ids. Collection 0 keeps the original's ids and is renamed too.

Usage: make_multi_dir.py SRC_DIR OUT_DIR K
"""
import os
import pickle
import shutil
import sqlite3
import struct
import sys
import uuid


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, out, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if os.path.exists(out):
        sys.exit("%s exists" % out)
    os.makedirs(out)
    shutil.copy(os.path.join(src, "chroma.sqlite3"), os.path.join(out, "chroma.sqlite3"))
    db = sqlite3.connect(os.path.join(out, "chroma.sqlite3"))
    (coll_id, name, dim, db_id, config), = db.execute(
        "SELECT id, name, dimension, database_id, config_json_str FROM collections").fetchall()
    segs = dict(db.execute("SELECT scope, id FROM segments WHERE collection = ?", (coll_id,)).fetchall())
    vec_seg, meta_seg = segs["VECTOR"], segs["METADATA"]
    n = db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    if n % k:
        sys.exit("%d records do not split into %d equal collections" % (n, k))
    m = n // k
    seq = dict(db.execute("SELECT segment_id, seq_id FROM max_seq_id").fetchall())

    seg_src = os.path.join(src, vec_seg)
    with open(os.path.join(seg_src, "header.bin"), "rb") as f:
        hdr = bytearray(f.read())
    _, cur = struct.unpack_from("<QQ", hdr, 12)
    size_el, _ = struct.unpack_from("<QQ", hdr, 28)
    if cur != n:
        sys.exit("header.bin holds %d elements, SQLite %d records" % (cur, n))
    with open(os.path.join(seg_src, "index_metadata.pickle"), "rb") as f:
        meta = pickle.load(f)
    ids = [r[0] for r in db.execute("SELECT embedding_id FROM embeddings ORDER BY id")]
    level0 = open(os.path.join(seg_src, "data_level0.bin"), "rb")
    lengths = open(os.path.join(seg_src, "length.bin"), "rb")
    len_size = os.path.getsize(os.path.join(seg_src, "length.bin")) // n

    for j in range(k):
        if j == 0:
            cid, vseg, mseg = coll_id, vec_seg, meta_seg
            db.execute("UPDATE collections SET name = ? WHERE id = ?", ("%s_%d" % (name, j), cid))
        else:
            cid, vseg, mseg = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
            db.execute("INSERT INTO collections (id, name, dimension, database_id, config_json_str) VALUES (?,?,?,?,?)",
                       (cid, "%s_%d" % (name, j), dim, db_id, config))
            for sid, scope, typ in ((vseg, "VECTOR", "urn:chroma:segment/vector/hnsw-local-persisted"),
                                    (mseg, "METADATA", "urn:chroma:segment/metadata/sqlite")):
                db.execute("INSERT INTO segments (id, type, scope, collection) VALUES (?,?,?,?)", (sid, typ, scope, cid))
            db.execute("INSERT INTO max_seq_id (segment_id, seq_id) VALUES (?,?), (?,?)",
                       (vseg, seq[vec_seg], mseg, seq[meta_seg]))
            for (key, s, i, fl, b) in db.execute(
                    "SELECT key, str_value, int_value, float_value, bool_value FROM collection_metadata "
                    "WHERE collection_id = ?", (coll_id,)).fetchall():
                db.execute("INSERT INTO collection_metadata VALUES (?,?,?,?,?,?)", (cid, key, s, i, fl, b))
            db.execute("UPDATE embeddings SET segment_id = ? WHERE id > ? AND id <= ?", (mseg, j * m, (j + 1) * m))
        d = os.path.join(out, vseg)
        os.makedirs(d)
        h = bytearray(hdr)
        struct.pack_into("<QQ", h, 12, m, m)
        with open(os.path.join(d, "header.bin"), "wb") as f:
            f.write(h)
        with open(os.path.join(d, "data_level0.bin"), "wb") as f:
            level0.seek(j * m * size_el)
            f.write(level0.read(m * size_el))
        with open(os.path.join(d, "length.bin"), "wb") as f:
            lengths.seek(j * m * len_size)
            f.write(lengths.read(m * len_size))
        shutil.copy(os.path.join(seg_src, "link_lists.bin"), os.path.join(d, "link_lists.bin"))
        part = dict(meta)
        part["id_to_label"] = {i: meta["id_to_label"][i] for i in ids[j * m:(j + 1) * m]}
        part["label_to_id"] = {label: i for i, label in part["id_to_label"].items()}
        part["total_elements_added"] = m
        with open(os.path.join(d, "index_metadata.pickle"), "wb") as f:
            pickle.dump(part, f, protocol=3)
        print("  collection %s_%d: %d records" % (name, j, m), file=sys.stderr)
    db.commit()
    db.close()
    print("%s: %d collections of %d records" % (out, k, m))


if __name__ == "__main__":
    main()
