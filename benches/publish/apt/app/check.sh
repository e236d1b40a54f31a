#!/bin/sh
exec test -r /app/VERSION
