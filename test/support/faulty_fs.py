#!/usr/bin/env python3
"""A one-file FUSE file system whose file mirrors a card image but fails reads with EIO
in chosen byte ranges: attached read-only to a loop device, it is a failing card.

    faulty_fs.py IMAGE MOUNTPOINT --bad OFFSET:LENGTH[,OFFSET:LENGTH...] [--name card.img]

Runs in the foreground until unmounted (fusermount -u MOUNTPOINT) or killed. A read that
touches a bad range fails as a whole, so every request the loop driver makes either
succeeds or fails: the kernel then retries page by page and the error lands where the
bad range is. The file is opened with direct_io so no page cache hides a failure.
Needs Debian's python3-fusepy (module `fusepy`; older packagings call it `fuse`).
"""
import argparse
import errno
import os
import stat
import sys
import time

try:
    import fusepy as fuse
except ImportError:  # pragma: no cover - other packagings
    import fuse


class FaultyImage(fuse.Operations):
    def __init__(self, image, name, bad, log):
        self.image = image
        self.name = '/' + name
        self.bad = bad
        self.size = os.stat(image).st_size
        self.fd = os.open(image, os.O_RDONLY)
        self.log = log
        self.now = time.time()

    def getattr(self, path, fh=None):
        if path == '/':
            return dict(st_mode=stat.S_IFDIR | 0o555, st_nlink=2, st_size=0,
                        st_ctime=self.now, st_mtime=self.now, st_atime=self.now)
        if path == self.name:
            return dict(st_mode=stat.S_IFREG | 0o444, st_nlink=1, st_size=self.size,
                        st_ctime=self.now, st_mtime=self.now, st_atime=self.now)
        raise fuse.FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        if path != '/':
            raise fuse.FuseOSError(errno.ENOTDIR)
        return ['.', '..', self.name[1:]]

    def open(self, path, fi):
        if path != self.name:
            raise fuse.FuseOSError(errno.ENOENT)
        if fi.flags & (os.O_WRONLY | os.O_RDWR):
            raise fuse.FuseOSError(errno.EROFS)
        fi.direct_io = 1
        fi.fh = 0
        return 0

    def read(self, path, size, offset, fi):
        end = offset + size
        hit = any(b < end and offset < b + n for b, n in self.bad)
        if self.log:
            self.log.write(f'{offset} {size} {"EIO" if hit else "ok"}\n')
            self.log.flush()
        if hit:
            raise fuse.FuseOSError(errno.EIO)
        return os.pread(self.fd, size, offset)

    def statfs(self, path):
        return dict(f_bsize=4096, f_blocks=0, f_bavail=0, f_bfree=0, f_namemax=255)


def ranges(text):
    out = []
    for part in filter(None, text.split(',')):
        off, length = part.split(':')
        out.append((int(off, 0), int(length, 0)))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('image')
    p.add_argument('mountpoint')
    p.add_argument('--bad', type=ranges, default=[])
    p.add_argument('--name', default='card.img')
    p.add_argument('--log')
    a = p.parse_args()
    log = open(a.log, 'a') if a.log else None
    ops = FaultyImage(a.image, a.name, a.bad, log)
    # Large requests: one loop-device request is one FUSE read, so it fails or succeeds whole.
    fuse.FUSE(ops, a.mountpoint, foreground=True, ro=True, raw_fi=True, nothreads=True,
              max_read=1 << 20)


if __name__ == '__main__':
    sys.exit(main())
