# A throwaway key for --ssh=default=KEYFILE: the builder serves it from its own agent.
ssh-keygen -q -t ed25519 -N '' -C compat-test -f ssh-key
