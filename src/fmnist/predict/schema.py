"""The answer's JSON, one shape: what `fmnist predict --json`, the run's pipeline record
and the service give, and what the service's OpenAPI schema says (FastAPI builds it from
these models, so the two cannot drift).

    >>> answer = AnswerJSON(source="a.jpg", answer="Shirt", sure=True,
    ...                     top_k=[TopClass(name="Shirt", probability=0.9)])
    >>> answer.render()["top_k"]
    [{'class': 'Shirt', 'probability': 0.9}]

`render` leaves out what an answer does not have (a photo's segmentation, a test image's
true class, the service's probabilities and pixels).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Shape(BaseModel):
    """Strict about what a response holds: a key the service sends that is not here fails
    the schema test, so the schema says everything the service answers."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def render(self) -> dict:
        return self.model_dump(by_alias=True, exclude_none=True)


class TopClass(Shape):
    name: str = Field(alias="class", description="a class name")
    probability: float


class ExplainSteps(Shape):
    """With `explain=true`, a photo's way to the answer as PNG data URLs."""

    photo: str = Field(description="the photo with the garment found outlined")
    article: str = Field(description="the article cut out and trimmed")
    saliency: str = Field(description="the pixels that drove the answer, over the 28 x 28 input")
    reading: str = Field(description="where those pixels are, in words")


class AnswerJSON(Shape):
    """One image's answer, or why there is none (`error`)."""

    source: str = Field(description="the file name, or test[i]")
    answer: str | None = Field(None, description='the class, or "not sure: looks most like X"')
    sure: bool | None = Field(None, description="false under the model's threshold")
    top_k: list[TopClass] | None = Field(None, description="the likeliest classes, best first")
    probabilities: dict[str, float] | None = Field(None, description="every class's (service)")
    pixels: list[list[int]] | None = Field(None, description="the 28 x 28 input (service)")
    segmentation: str | None = Field(None, description="how a photo's garment was found")
    true: str | None = Field(None, description="a test image's true class")
    correct: bool | None = Field(None, description="whether the top class is the true one")
    steps: ExplainSteps | None = None
    error: str | None = Field(None, description="why this image has no answer")


class PredictResponse(Shape):
    """POST /v1/predict's answer."""

    model: str = Field(description="the model's name (its run folder's)")
    predictions: list[AnswerJSON]
    time_ms: float
    request_id: str


class ErrorDetail(Shape):
    status: int
    message: str = Field(description="what to fix, in one line")


class ErrorResponse(Shape):
    """Every 4xx body the service sends."""

    error: ErrorDetail
    request_id: str
