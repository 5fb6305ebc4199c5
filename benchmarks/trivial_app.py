"""The baseline of benchmarks/run_api.py: the smallest useful FastAPI endpoint (as FastAPI's tutorial writes it)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}
