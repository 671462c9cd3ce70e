"""Run by tests/export/test_litellm_router.py with the Python of a separate LiteLLM venv (LiteLLM is
large and pins its own dependencies, so it stays out of the project's venv):

    python litellm_router.py CONFIG.yaml MODEL

Loads the exported proxy config into a real ``litellm.Router`` exactly as given (model_list and
router_settings), makes one chat completion for MODEL and prints the model string that answered.
"""

import json
import sys

import litellm
import yaml


def main() -> None:
    config_path, model = sys.argv[1], sys.argv[2]
    with open(config_path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    router = litellm.Router(model_list=config["model_list"], **config["router_settings"])
    try:
        response = router.completion(
            model=model, messages=[{"role": "user", "content": "Will it rain tomorrow?"}]
        )
    except Exception as e:  # the test reads the class, never a traceback
        print(json.dumps({"error": type(e).__name__, "status": getattr(e, "status_code", None)}))
        return
    print(json.dumps({"model": response.model, "content": response.choices[0].message.content}))


if __name__ == "__main__":
    main()
