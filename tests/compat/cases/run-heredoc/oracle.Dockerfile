ARG BASE
FROM ${BASE}
ENV GREETING=hi
# buildah 1.28 has no heredocs: the same scripts as plain RUN (see QUIRKS).
RUN mkdir -p /heredoc \
 && echo "first line" > /heredoc/script.txt \
 && echo "second line, $GREETING" >> /heredoc/script.txt
RUN echo "from a shebang script, $GREETING" > /heredoc/shebang.txt
RUN echo "tabs stripped" > /heredoc/dash.txt
RUN echo "after the heredocs" > /heredoc/after.txt
