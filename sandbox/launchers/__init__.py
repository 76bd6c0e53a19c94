"""The servers that both the sandbox and the tests start, so both run the same emulator and the same sshd:

- `moto`: the moto server subprocess (`moto_server` is its program: moto with the sandbox's fixes);
- `sshd`: an OpenSSH server with its own host key, on loopback or at a network namespace's address.

Importing these needs only the standard library; moto itself is imported only inside the moto server process.
"""
