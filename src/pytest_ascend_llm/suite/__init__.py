"""The shipped device suite: ``pytest --pyargs pytest_ascend_llm.suite`` (all tests marked ``npu``)."""
