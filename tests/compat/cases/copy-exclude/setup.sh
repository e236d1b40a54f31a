# The oracle Dockerfile spells out modes/paths, so pin the source modes whatever the checkout umask was.
find . -type d -exec chmod 0755 {} +
find . -type f -exec chmod 0644 {} +
