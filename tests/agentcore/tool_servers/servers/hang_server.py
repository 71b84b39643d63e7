"""A "server" that starts and never speaks MCP: reads nothing, answers nothing."""

import time

if __name__ == "__main__":
    time.sleep(3600)
