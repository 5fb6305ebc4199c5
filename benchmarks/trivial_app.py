"""The baseline of benchmarks/run_api.py: the smallest useful FastAPI endpoint."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}
