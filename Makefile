# Convenience wrappers around scripts/quickstart.sh (the README's commands).
.PHONY: demo test build clean
demo:
	bash scripts/quickstart.sh demo
test:
	bash scripts/quickstart.sh test
build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j
clean:
	rm -rf build
