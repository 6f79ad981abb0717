#!/bin/sh
# Renders each pages/NAME.txt into OUT/NAME.html titled TITLE: a stand-in for a real build
# step, whose output is all the final stage keeps.
set -eu
title=$1
out=$2
mkdir -p "$out"
for page in pages/*.txt; do
    name=$(basename "$page" .txt)
    {
        echo "<html><head><title>$title</title></head><body>"
        echo "<h1>$title</h1>"
        sed 's|.*|<p>&</p>|' "$page"
        echo "</body></html>"
    } > "$out/$name.html"
done
echo ok > "$out/healthz"
