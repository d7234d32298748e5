"""``python -m pytest_ascend_llm.testing.fake_server [options]``: run the server until killed."""

import sys

from pytest_ascend_llm.testing.fake_server.endpoints import main

if __name__ == "__main__":
    sys.exit(main())
