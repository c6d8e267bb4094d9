"""Train a LLaMA-style model on the `pack` stage's shards (the bundled loop of lmpipe/trainer/).

    python jobs/train.py --data DIR --model tiny --max-steps 50 --device cpu
    python jobs/train.py --data DIR --model 350m --device cuda --batch-size 8 --grad-accum 8
    torchrun --nproc-per-node 8 jobs/train.py --data DIR --model 1b --device cuda ...

Needs only torch and numpy (the GPU machine cannot install the pipeline's dependencies).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a plain checkout, no install

from lmpipe.trainer.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
