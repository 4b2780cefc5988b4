"""Tools a model may call: the built-in ones and those of MCP servers, under the user's
approval (see types.py for what crosses between them and the chat service)."""
