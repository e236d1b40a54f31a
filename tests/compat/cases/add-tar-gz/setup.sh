# Build the archive at run time: git cannot keep owners, setuid/sticky bits or 0600 modes.
src=$(mktemp -d)
mkdir -p "$src/top/nest/deeper" "$src/top/sticky" "$src/top/empty"
echo z > "$src/top/nest/z"
echo secret > "$src/top/nest/deeper/private"
echo run > "$src/top/run.sh"
chmod 4755 "$src/top/nest/z"
chmod 0600 "$src/top/nest/deeper/private"
chmod 0755 "$src/top/run.sh"
chmod 1777 "$src/top/sticky"
chmod 0700 "$src/top/nest/deeper"
ln -s nest/z "$src/top/rel-link"
ln -s /etc/passwd "$src/top/abs-link"
ln "$src/top/run.sh" "$src/top/hardlink.sh"
tar -C "$src" --owner=7 --group=8 --numeric-owner -czf tree.tar.gz top
rm -rf "$src"
