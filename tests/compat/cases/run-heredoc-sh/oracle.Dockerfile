ARG BASE
FROM ${BASE}
ENV NAME=heredoc
RUN mkdir /h
# buildah 1.28 has no heredocs: the same effects as plain RUN (see QUIRKS).
RUN echo "via sh's stdin, NAME=$NAME" > /h/stdin.txt && echo "second command" >> /h/stdin.txt
RUN echo "first file" > /h/a.txt && echo "second file" > /h/b.txt
RUN echo 'literal $NAME stays' > /h/quoted.txt
RUN echo "expanded $NAME" > /h/unquoted.txt
