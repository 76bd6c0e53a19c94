"""Sync: the upload set, the manifest diff, one stream up, outputs back (DESIGN §7, docs/sync.md).

    tree = scan(local_root, excludes)
    summary = sync_up(runner, local_root, remote_root, excludes=..., protect=..., progress=None)
    pulled = pull_outputs(runner, remote_root, globs, local_root)

Heavy imports stay inside the submodules, so `import weatherballoon.cli.sync` costs nothing.
"""
