"""The sandbox's EC2 Instance Connect Endpoint: the open-tunnel WebSocket, its signature checked."""
