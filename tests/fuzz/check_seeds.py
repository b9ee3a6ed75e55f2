#!/usr/bin/python3
"""The committed seed corpus (tests/fuzz/corpus) is what make_seeds.py writes: it runs the script
into a temporary folder and compares every file, both ways. Standard library only."""
import filecmp
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
COMMITTED = os.path.join(HERE, "corpus")


def files(root):
    return {os.path.relpath(os.path.join(d, f), root) for d, _, names in os.walk(root) for f in names}


def main():
    with tempfile.TemporaryDirectory(prefix="rerankd-seeds-") as out:
        subprocess.run([sys.executable, os.path.join(HERE, "make_seeds.py"), out], check=True)
        made, committed = files(out), files(COMMITTED)
        problems = [f"missing from the corpus: {f}" for f in sorted(made - committed)]
        problems += [f"not written by make_seeds.py: {f}" for f in sorted(committed - made)]
        problems += [f"differs: {f}" for f in sorted(made & committed)
                     if not filecmp.cmp(os.path.join(out, f), os.path.join(COMMITTED, f), shallow=False)]
    if problems:
        print("tests/fuzz/corpus is not what tests/fuzz/make_seeds.py writes:\n  " + "\n  ".join(problems) +
              "\nRerun `python3 tests/fuzz/make_seeds.py` and commit tests/fuzz/corpus (an input found by a"
              "\nfuzzer goes into make_seeds.py first).", file=sys.stderr)
        return 1
    print(f"tests/fuzz/corpus: {len(made)} files, as make_seeds.py writes them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
