from human_eval.ratings.cli import main

raise SystemExit(main())
