"""Write the photo set's manifest and footwear table from two local copies of it.

    python scripts/make_photo_manifest.py ../shared/photos-train ../shared/photos-dev

The copies are laid out as fmnist lays out a download (footwear told apart into sneaker/,
sandal/ and ankle-boot/, the rest in shoes/); the repository keeps all footwear in shoes/.
Writes src/fmnist/data/clothing_dataset_files.tsv (every file with its git blob id, the id
`git hash-object` prints) and src/fmnist/data/clothing_dataset_footwear.tsv (file -> kind).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fmnist.data.photo_download import FOOTWEAR_KINDS, blob_id, remote_folder

DATA = Path(__file__).resolve().parents[1] / "src" / "fmnist" / "data"
SPLITS = ("train", "validation")  # the repository's names of the two copies, in order


def main(train: str, validation: str) -> None:
    files, footwear = [], []
    for split, root in zip(SPLITS, (Path(train), Path(validation)), strict=True):
        for path in sorted(root.glob("*/*.jpg")):
            folder = path.parent.name
            data = path.read_bytes()
            files.append((split, remote_folder(folder), path.name, len(data), blob_id(data)))
            if folder in FOOTWEAR_KINDS:
                footwear.append((path.name, folder))
    header = "# split\tfolder\tfile\tbytes\tgit blob id (SHA-1 of 'blob <bytes>\\0' + content)\n"
    rows = sorted(files)
    (DATA / "clothing_dataset_files.tsv").write_text(
        header + "".join("\t".join(map(str, row)) + "\n" for row in rows)
    )
    (DATA / "clothing_dataset_footwear.tsv").write_text(
        "# file\tkind (photos in the repository's shoes/ told apart by looking at each)\n"
        + "".join(f"{name}\t{kind}\n" for name, kind in sorted(footwear))
    )
    print(f"{len(rows)} files, {len(footwear)} told-apart footwear photos")


if __name__ == "__main__":
    main(*sys.argv[1:3])
