"""The floor: a bare Starlette + onnxruntime endpoint, run under uvicorn in its own process.

One route, ``POST /predict``: json-decode ``{"instances": rows}``, run the InferenceSession
(inline: for a model this small a thread hop costs more than the inference), answer
``{"predictions": [{"label": ..., "probabilities": [...]}, ...]}`` as modelrepo does for a
two-output model. Session settings match modelrepo's ONNX runtime (one intra-op thread).

    python bench/_serving_bare.py --model model.onnx --port 8123 [--workers 2] [--loop asyncio]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MODEL_ENV = "BENCH_BARE_MODEL"


def create_app() -> Starlette:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session: Any = onnxruntime.InferenceSession(
        os.environ[MODEL_ENV], options, providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name
    output_names = [output.name for output in session.get_outputs()]

    async def predict(request: Request) -> Response:
        payload = json.loads(await request.body())
        features = np.asarray(payload["instances"], dtype=np.float32)
        values = session.run(output_names, {input_name: features})
        columns = [value.tolist() for value in values]
        predictions = [
            dict(zip(output_names, row, strict=True)) for row in zip(*columns, strict=True)
        ]
        return JSONResponse({"predictions": predictions})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", default="auto", help="uvicorn's --loop: auto, asyncio, uvloop")
    args = parser.parse_args()
    os.environ[MODEL_ENV] = str(args.model.resolve())
    uvicorn.run(
        "_serving_bare:create_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop=args.loop,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
