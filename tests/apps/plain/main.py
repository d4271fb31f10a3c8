from fastapi import FastAPI

app = FastAPI(title="plain")


@app.get("/")
def index() -> dict[str, str]:
    return {"app": "plain"}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
