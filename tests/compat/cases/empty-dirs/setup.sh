# git keeps no empty directories: make them here.
mkdir -p empty nested/a/b nested/c
chmod 0700 nested/c
