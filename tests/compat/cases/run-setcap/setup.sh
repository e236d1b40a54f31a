# busybox has no setcap and the base has no libc: bring the host's setcap with the
# libraries it needs and its dynamic loader, which the RUN calls directly (as tools/ld.so).
PATH=$PATH:/usr/sbin:/sbin
setcap=$(command -v setcap)
mkdir tools
cp -L "$setcap" tools/setcap
for lib in $(ldd "$setcap" | grep -o '/[^ ]*'); do
  case "${lib##*/}" in
    ld-*) cp -L "$lib" tools/ld.so ;;
    *) cp -L "$lib" tools/ ;;
  esac
done
test -x tools/ld.so
