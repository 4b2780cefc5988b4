"""``python -m bench`` (the chat figures), ``python -m bench documents [...]`` (the documents
rows: bench/documents.py) and ``python -m bench retrieval [...]`` (the retrieval evaluation:
bench/retrieval_eval.py)."""

import sys

if sys.argv[1:2] == ["documents"]:
    from bench.documents import main as documents_main

    raise SystemExit(documents_main(sys.argv[2:]))
if sys.argv[1:2] == ["retrieval"]:
    from bench.retrieval_eval import main as retrieval_main

    raise SystemExit(retrieval_main(sys.argv[2:]))

from bench.harness import main

raise SystemExit(main())
