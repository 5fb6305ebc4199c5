"""The baselines of benchmarks/run_api.py: the smallest useful FastAPI endpoint (as FastAPI's tutorial writes
it), and one that only reads and validates the body ``POST /v1/score`` takes, then answers without scoring: the
floor under any FastAPI endpoint that must accept that body."""

from fastapi import FastAPI

from leadscore.scoring.schemas import ScoreRequest

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}


@app.post("/validate")
async def validate(request: ScoreRequest) -> dict[str, int]:
    return {"leads": len(request.leads)}
