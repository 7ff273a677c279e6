"""Adapters that gate the tool calls of agent frameworks (issue 17).

Each module imports its framework only when it is imported itself; install the extra that
brings it (``pip install 'heso[langgraph]'`` …):

- ``heso.integrations.openai_agents``: every function tool of an OpenAI Agents SDK
  ``Agent`` and of the agents it hands off to;
- ``heso.integrations.langchain``: any LangChain ``BaseTool``; inside a LangGraph graph a
  call that needs approval interrupts the graph (``interrupt()``) with its pending id;
- ``heso.integrations.pydantic_ai``: every tool of a Pydantic AI ``Agent``;
- ``heso.integrations.anthropic``: the ``tool_use`` blocks of an Anthropic
  ``messages.create`` response, gated before the caller runs them.

Every tool call is gated as a ``tool_call`` whose tool name is the framework's and whose
fields are the arguments the model gave, before the tool runs.
"""
