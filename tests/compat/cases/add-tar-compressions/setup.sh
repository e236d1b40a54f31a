# Archives made at run time, each with a nested tree, a symlink and distinct modes/owners.
src=$(mktemp -d)
mkdir -p "$src/d/e"
echo one > "$src/d/e/f"
echo exe > "$src/d/x"
chmod 0751 "$src/d/x"
chmod 0710 "$src/d/e"
ln -s e/f "$src/d/link"
tar -C "$src" --owner=1000 --group=50 --numeric-owner -cf plain.tar d
tar -C "$src" --owner=0 --group=0 --numeric-owner -cjf bz.tar.bz2 d
tar -C "$src" --owner=33 --group=33 --numeric-owner -cJf xz.tar.xz d
tar -C "$src" --numeric-owner --owner=4242 --group=4242 -czf gz.tgz d
# an archive with ./-prefixed members and an explicit root entry
tar -C "$src/d" --owner=0 --group=0 --numeric-owner -cf mixed.tar .
rm -rf "$src"
