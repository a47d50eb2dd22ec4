"""Write the curated catalog and our dataset judgments as a BEIR-style test collection.

A stand-in for an external research-dataset collection: documents carry only an id of their own, a title and
a text (the description); no keywords, themes, publisher, source or landing page. `dra eval --corpus` then
ranks it the way it would rank a collection that is not ours:

    .venv/bin/python benchmarks/export_beir.py /tmp/beir [--split heldout]
    .venv/bin/dra eval --corpus /tmp/beir/corpus.jsonl --trec-topics /tmp/beir/queries.jsonl \
        --trec-qrels /tmp/beir/qrels/test.tsv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="where corpus.jsonl, queries.jsonl and qrels/test.tsv go")
    parser.add_argument("--split", choices=("heldout", "train"), default="heldout", help="judgment split")
    args = parser.parse_args()

    from dra_common.evalsets import judged_queries
    from dra_ranking.catalog import load_curated

    # Ids of the collection's own, so nothing can lean on our "<source>:<id>" form.
    records = load_curated()
    own_id = {r.id: f"doc{n:05d}" for n, r in enumerate(records)}
    (args.folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (args.folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"_id": own_id[r.id], "title": r.title, "text": r.description, "metadata": {}}) + "\n")
    judged = judged_queries(args.split)
    with (args.folder / "queries.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps({"_id": j.qid, "text": j.query, "metadata": {}}) + "\n" for j in judged)
    with (args.folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{j.qid}\t{own_id[doc]}\t{grade}\n" for j in judged for doc, grade in j.judgments.items()
                     if doc in own_id)
    print(f"{len(own_id)} documents, {len(judged)} queries ({args.split}) in {args.folder}")


if __name__ == "__main__":
    main()
