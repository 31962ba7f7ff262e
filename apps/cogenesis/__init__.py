"""CoGenesis writing app: private context stays local, a cloud LLM helps with de-identified input."""
