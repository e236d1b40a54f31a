#!/bin/sh
echo "hello from lading"
