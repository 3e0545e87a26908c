"""People's photos: from a photo to the model's 28 x 28 input, and what to make of answers.

- `prepare`: decode, find the garment (`segmentation`), Zalando's steps, the 28 x 28 input.
- `augment`: training images made to look like prepared phone photos.
- `unsure`: when an answer is "not sure".
- `scoring`: top-1, top-3 and not-sure rates on labelled photo folders.
- `step_images`: a photo's steps as small images for a web page.
"""
