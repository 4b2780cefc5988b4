# Shortcuts; the scripts they call are what CI and the README use.
.PHONY: run test package package-cuda package-vulkan icons

run:            ## start the app on the bundled starter model
	./run.sh

test:           ## the whole test suite (what CI runs)
	./test.sh

package:        ## the Linux package: build/DesktopChat-<version>-linux-<arch>.tar.gz
	./packaging/build.sh

package-cuda:   ## an NVIDIA CUDA variant (needs the CUDA toolkit)
	./packaging/build.sh --gpu cuda

package-vulkan: ## a Vulkan variant (needs the Vulkan SDK)
	./packaging/build.sh --gpu vulkan

icons:          ## render assets/desktopchat.svg into every icon size and format
	QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py
