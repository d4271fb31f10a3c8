from fastapi import FastAPI
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    greeting: str = "hello from poetry"


settings = Settings()
app = FastAPI(title="poetryapp")


@app.get("/")
def index() -> dict[str, str]:
    return {"message": settings.greeting}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
