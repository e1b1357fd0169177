#!/usr/bin/env python3
"""Build a single-layer container image as a docker-archive tar, no daemon needed.

    mkimage.py <rootfs-dir> <image-ref> <out.tar> [--entrypoint ...] [--cmd ...]
               [--env K=V ...] [--workdir DIR] [--busybox /bin/busybox]

The tar is what `docker save` writes (manifest.json + config + one layer) and
imports with `ctr -n k8s.io images import` (see import-image.sh). Output is
deterministic: same rootfs, same image id.

--entrypoint/--cmd take either a JSON array ('["/bin/sh","-c","echo hi"]') or
a single program path. --busybox first fills <rootfs-dir> with that static
busybox plus one symlink per applet and a minimal /etc.
"""

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

EPOCH = 0  # fixed timestamps keep the image id stable


def argv_list(value):
    if value is None:
        return None
    value = value.strip()
    if value.startswith("["):
        parsed = json.loads(value)
        if not all(isinstance(x, str) for x in parsed):
            raise SystemExit(f"not a JSON array of strings: {value}")
        return parsed
    return [value]


def populate_busybox(rootfs, busybox):
    """Static busybox at /bin/busybox, applet symlinks, and the /etc a shell expects."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "root", "var/tmp"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    target = os.path.join(rootfs, "bin", "busybox")
    with open(busybox, "rb") as src, open(target, "wb") as dst:
        dst.write(src.read())
    os.chmod(target, 0o755)
    applets = subprocess.run([busybox, "--list-full"], check=True, capture_output=True, text=True).stdout
    for applet in applets.split():
        path = os.path.join(rootfs, applet)
        if applet == "bin/busybox" or os.path.lexists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink("/bin/busybox", path)
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": "root:x:0:\nnogroup:x:65534:\n",
        "etc/hosts": "127.0.0.1 localhost\n",
        "etc/resolv.conf": "",
    }
    for rel, text in files.items():
        with open(os.path.join(rootfs, rel), "w") as f:
            f.write(text)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)


def layer_tar(rootfs):
    """Uncompressed, sorted, owner root, fixed mtimes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                arc = os.path.relpath(full, rootfs)
                info = tar.gettarinfo(full, arcname=arc)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = EPOCH
                if info.isfile():
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()


def split_ref(ref):
    """'host/name:tag' -> ('host/name', 'tag'); a digest-free ref is required."""
    if "@" in ref:
        raise SystemExit(f"image ref must be name:tag, not a digest: {ref}")
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return name, tag


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rootfs")
    ap.add_argument("ref", help="e.g. kle.local/exporter:dev (use a registry-like host so it stays unambiguous)")
    ap.add_argument("out")
    ap.add_argument("--entrypoint")
    ap.add_argument("--cmd")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE, repeatable")
    ap.add_argument("--workdir", default="/")
    ap.add_argument("--busybox", help="populate rootfs with this static busybox first")
    args = ap.parse_args()

    if args.busybox:
        populate_busybox(args.rootfs, args.busybox)
    if not os.path.isdir(args.rootfs):
        raise SystemExit(f"rootfs is not a directory: {args.rootfs}")

    layer = layer_tar(args.rootfs)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + args.env
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": env, "WorkingDir": args.workdir},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/cluster/mkimage.py"}],
    }
    if args.entrypoint is not None:
        config["config"]["Entrypoint"] = argv_list(args.entrypoint)
    if args.cmd is not None:
        config["config"]["Cmd"] = argv_list(args.cmd)
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_dir = diff_id.split(":", 1)[1]
    name, tag = split_ref(args.ref)
    manifest = [{"Config": config_name, "RepoTags": [f"{name}:{tag}"], "Layers": [f"{layer_dir}/layer.tar"]}]
    repositories = {name: {tag: layer_dir}}

    tmp = args.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as out:
        def add(arcname, data):
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mtime = EPOCH
            info.mode = 0o644
            out.addfile(info, io.BytesIO(data))

        add(config_name, config_bytes)
        add(f"{layer_dir}/layer.tar", layer)
        add("manifest.json", json.dumps(manifest).encode())
        add("repositories", json.dumps(repositories).encode())
    os.replace(tmp, args.out)
    print(f"{args.ref} -> {args.out} (image id sha256:{config_name[:-5]})", file=sys.stderr)


if __name__ == "__main__":
    main()
